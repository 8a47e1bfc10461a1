/** The path of a request's URL, without its query string. */
export function pathOf(url: string | undefined): string {
  const query = (url ??= '/').indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}
