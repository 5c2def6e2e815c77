// Credentials a URL can carry: user:password@ before the host, and query parameters of signed
// or token URLs (S3 and GCS presigned URLs, Azure SAS, ?token=, ?api_key=...). Parsed by hand
// rather than with URL so that the parts come out exactly as written (what a log would show)
// and so that a URL the WHATWG parser refuses is still looked at.

/** Query parameter names that carry a credential (compared lower-cased). */
const CREDENTIAL_PARAM = /(signature|token|credential|password|passwd|secret|api[-_]?key|access[-_]?key|session[-_]?key)/;
const CREDENTIAL_PARAM_EXACT = new Set(["sig", "key", "auth", "pwd"]);

/** One credential found in a URL: what to call it in a message, and the text as written. */
export interface UrlCredential {
  /** "user:password@" or the query parameter's name. */
  what: string;
  /** The secret as it appears in the URL (a user name alone has no secret part: undefined). */
  value?: string;
}

interface UrlParts {
  scheme: string;
  userinfo?: string;
  rest: string;
  query: { name: string; value: string }[];
}

function splitUrl(url: string): UrlParts | undefined {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(url.trim());
  if (!m) return undefined;
  const at = m[2].lastIndexOf("@");
  const query = (m[4] ?? "")
    .split("&")
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq < 0 ? { name: pair, value: "" } : { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
    });
  return { scheme: m[1], ...(at >= 0 ? { userinfo: m[2].slice(0, at) } : {}), rest: m[2].slice(at + 1) + m[3], query };
}

const decoded = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

function isCredentialParam(name: string): boolean {
  const n = decoded(name).toLowerCase();
  return CREDENTIAL_PARAM_EXACT.has(n) || CREDENTIAL_PARAM.test(n);
}

/** The credentials `url` carries, in the order written; none for a URL that is not scheme://... */
export function urlCredentials(url: string): UrlCredential[] {
  const parts = splitUrl(url);
  if (!parts) return [];
  const found: UrlCredential[] = [];
  if (parts.userinfo !== undefined) {
    const colon = parts.userinfo.indexOf(":");
    found.push({ what: "user:password@", ...(colon >= 0 ? { value: parts.userinfo.slice(colon + 1) } : {}) });
  }
  for (const { name, value } of parts.query) if (isCredentialParam(name)) found.push({ what: decoded(name), value });
  return found;
}

/**
 * The strings to mask for `url`: the user:password pair and the password, each query
 * credential's value, as written and percent-decoded. Empty when it carries none.
 */
export function urlSecrets(url: string): string[] {
  const parts = splitUrl(url);
  if (!parts) return [];
  const out: string[] = [];
  if (parts.userinfo !== undefined) out.push(parts.userinfo, decoded(parts.userinfo));
  for (const c of urlCredentials(url)) if (c.value) out.push(c.value, decoded(c.value));
  return [...new Set(out.filter(Boolean))];
}

/** `url` with every credential replaced by ***, safe to quote in a message. */
export function withoutCredentials(url: string): string {
  const parts = splitUrl(url);
  if (!parts) return url;
  const query = parts.query.map(({ name, value }) => (isCredentialParam(name) ? `${name}=***` : value ? `${name}=${value}` : name));
  return `${parts.scheme}${parts.userinfo !== undefined ? "***@" : ""}${parts.rest}${query.length ? `?${query.join("&")}` : ""}`;
}
