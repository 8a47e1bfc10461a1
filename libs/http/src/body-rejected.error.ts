/**
 * Why a request's body was refused, named as Express's body parser names it (its `type`): the error mapping
 * (error.filter) answers each, whichever reader refused the body (readJsonBody, or the parser's error in bootstrap).
 */
export class BodyRejectedError extends Error {
  constructor(readonly type: 'entity.parse.failed' | 'entity.too.large' | 'request.aborted') {
    super(type);
    this.name = 'BodyRejectedError';
  }
}
