/**
 * @module router/http-path
 * The request path and Host as MOSN's router sees them. MOSN's HTTP codec (fasthttp)
 * hands the router a normalized path: percent-escapes decoded, runs of "/" collapsed,
 * "/./" removed, "/x/../" and a trailing "/x/.." resolved (so "/a/%2e%2e/admin" routes
 * as "/admin"); a rewritten path goes upstream escaped the way Go's url package escapes a
 * path. Host/port splitting follows Go's net.SplitHostPort. Depends on nothing.
 */

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/**
 * The path (no query) as MOSN matches it. Returns `raw` itself when nothing needs
 * normalizing (the common case, no allocation).
 */
export function normalizePath(raw: string): string {
  if (raw.charCodeAt(0) === 0x2f && raw.indexOf('%') < 0 && raw.indexOf('//') < 0 && raw.indexOf('/.') < 0) return raw;
  let path = raw.charCodeAt(0) === 0x2f ? raw : `/${raw}`;
  if (path.indexOf('%') >= 0) path = percentDecode(path);
  // Order as fasthttp: collapse "//", drop "/./", resolve "/x/../", then a trailing "/x/..".
  while (path.indexOf('//') >= 0) path = path.replace(/\/{2,}/g, '/');
  for (let n = path.indexOf('/./'); n >= 0; n = path.indexOf('/./')) path = path.slice(0, n) + path.slice(n + 2);
  for (let n = path.indexOf('/../'); n >= 0; n = path.indexOf('/../')) {
    const parent = Math.max(path.lastIndexOf('/', n - 1), 0);
    path = path.slice(0, parent) + path.slice(n + 3);
  }
  if (path.endsWith('/..')) {
    const n = path.length - 3;
    const parent = n > 0 ? path.lastIndexOf('/', n - 1) : -1;
    path = parent < 0 ? '/' : path.slice(0, parent + 1);
  }
  return path;
}

/** Decodes %XX escapes (an invalid one stays as written; "+" stays "+"), then reads the bytes as UTF-8. */
function percentDecode(path: string): string {
  const bytes = encoder.encode(path);
  const out = new Uint8Array(bytes.length);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25 && i + 2 < bytes.length && isHexByte(bytes[i + 1]) && isHexByte(bytes[i + 2])) {
      out[j++] = (hexValue(bytes[i + 1]!) << 4) | hexValue(bytes[i + 2]!);
      i += 2;
    } else {
      out[j++] = b;
    }
  }
  return decoder.decode(out.subarray(0, j));
}

function isHexByte(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}

function hexValue(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10;
}

/** Characters Go leaves unescaped in a path: unreserved, and "$&+,/:;=@". */
const PATH_SAFE = /^[A-Za-z0-9\-_.~$&+,/:;=@]*$/;

/** A decoded path escaped for the request line, as Go's `url.URL{Path: p}.EscapedPath()`. */
export function escapePath(path: string): string {
  if (PATH_SAFE.test(path)) return path;
  let out = '';
  for (const ch of path) {
    if (PATH_SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of encoder.encode(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Go's net.SplitHostPort, forgiving a missing port as MOSN does ("example.com" gives
 * host "example.com", port ""). Returns undefined for what Go refuses ("a:b:c", "[::1").
 * The host of "[::1]:80" is "::1"; a bracketed host without a port keeps its brackets.
 */
export function splitHostPort(hostPort: string): { host: string; port: string } | undefined {
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0) return { host: hostPort, port: '' };
  let host: string;
  let hostStart = 0;
  let portSearchFrom = 0;
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    if (end < 0) return undefined; // missing ']'
    if (end + 1 === hostPort.length) return { host: hostPort, port: '' };
    if (end + 1 !== colon) return hostPort[end + 1] === ':' ? undefined : { host: hostPort, port: '' };
    host = hostPort.slice(1, end);
    hostStart = 1;
    portSearchFrom = end + 1;
  } else {
    host = hostPort.slice(0, colon);
    if (host.indexOf(':') >= 0) return undefined; // too many colons
  }
  if (hostPort.indexOf('[', hostStart) >= 0 || hostPort.indexOf(']', portSearchFrom) >= 0) return undefined;
  return { host, port: hostPort.slice(colon + 1) };
}
