import { ArgumentsHost, Logger } from '@nestjs/common';
import { ErasureInProgressError, RedriveRefusedError } from '@vh/domain';
import { ViewingHistoryErrorFilter } from './error.filter';

/** What the filter answers for an error: status, Retry-After and body. */
function answer(exception: unknown, request: { id?: string } = {}) {
  const sent: { status?: number; headers: Record<string, string>; body?: unknown } = { headers: {} };
  const response = {
    headersSent: false,
    setHeader: (name: string, value: string) => (sent.headers[name] = value),
    status: (status: number) => {
      sent.status = status;
      return { json: (body: unknown) => (sent.body = body) };
    },
  };
  const host = {
    switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
  } as unknown as ArgumentsHost;
  new ViewingHistoryErrorFilter().catch(exception, host);
  return sent;
}

// The messages a caller reads live here, in the one place errors become responses (review, session 8).
describe('ViewingHistoryErrorFilter', () => {
  // Session 16: the collector runs without a request context; its 5xx line names the request to be found by it.
  it('names the request in the line it writes for a 5xx, and writes none for a 503 or a 4xx', () => {
    const written = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      expect(answer(new Error('a bug'), { id: 'trace-5xx-1' }).status).toBe(500);
      expect(written).toHaveBeenCalledTimes(1);
      expect(written.mock.calls[0][0]).toEqual({
        requestId: 'trace-5xx-1',
        msg: expect.stringMatching(/^Error: a bug/),
      });
      expect(answer(new Error('no request id')).status).toBe(500);
      expect(written.mock.calls[1][0]).toEqual({
        requestId: undefined,
        msg: expect.stringMatching(/^Error: no request id/),
      });
      answer(new ErasureInProgressError([{ id: 'p1', reason: 'taken over' }], 'erasure'));
      expect(written).toHaveBeenCalledTimes(2);
    } finally {
      written.mockRestore();
    }
  });

  it('answers 409 erasure_in_progress with Retry-After, and a message saying what was refused', () => {
    const redrive = answer(new ErasureInProgressError([{ id: 'dl-1', reason: 'erasure e1 in progress' }]));
    expect(redrive).toMatchObject({
      status: 409,
      headers: { 'Retry-After': '5' },
      body: {
        error: 'erasure_in_progress',
        message: expect.stringMatching(/nothing was re-driven/),
        issues: [{ field: 'dl-1', message: 'erasure e1 in progress' }],
      },
    });
    const erasure = answer(new ErasureInProgressError([{ id: 'p1', reason: 'taken over' }], 'erasure'));
    expect(erasure).toMatchObject({ status: 409, headers: { 'Retry-After': '5' } });
    expect((erasure.body as { message: string }).message).toMatch(/another erasure of the profile is in progress/);
  });

  it('answers 400 redrive_refused naming each letter', () => {
    expect(answer(new RedriveRefusedError([{ id: 'dl-1', reason: 'sealed with an erased key' }]))).toMatchObject({
      status: 400,
      body: { error: 'redrive_refused', issues: [{ field: 'dl-1', message: 'sealed with an erased key' }] },
    });
  });
});
