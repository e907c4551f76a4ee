/**
 * @module proxy/phases
 * The phases of one proxied request, named once (MOSN's names; drawn in
 * docs/life-of-a-request.md). `ProxyStream.phase` says where a request is, for logs and
 * for the error a filter gets when it returns a status its phase cannot honour.
 */
export const Phases = [
  'Init',
  'DownFilter', // receive filters, BeforeRoute
  'MatchRoute',
  'DownFilterAfterRoute',
  'ChooseHost',
  'DownFilterAfterChooseHost',
  'DownRecvHeader', // request sent upstream (headers, then body, then trailers)
  'Retry',
  'UpRecvHeader', // response headers from upstream
  'UpFilter', // send filters, BeforeSend
  'UpRecvData',
  'End',
] as const;

export type Phase = (typeof Phases)[number];
