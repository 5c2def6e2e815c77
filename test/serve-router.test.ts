import { describe, expect, it } from "vitest";
import { HttpError } from "../shared/serve/http-error.js";
import { Router } from "../shared/serve/router.js";

const handler = () => ({ body: {} });

describe("the server's router", () => {
  it("finds literal and parameter routes; the first route that matches wins", () => {
    const r = new Router()
      .add("GET", "/v2/models/:name", handler)
      .add("GET", "/v2/models/special", handler)
      .add("POST", "/v1/recommend", handler)
      .add("GET", "/v1/recommend/info", handler);
    const hit = (method: string, path: string) => {
      const m = r.match(method, path);
      return m && !(m instanceof HttpError) ? { name: m.route.name, params: m.params } : m;
    };
    expect(hit("POST", "/v1/recommend")).toEqual({ name: "/v1/recommend", params: {} });
    expect(hit("GET", "/v1/recommend/info")).toEqual({ name: "/v1/recommend/info", params: {} });
    // added after a pattern that matches it: the pattern keeps it
    expect(hit("GET", "/v2/models/special")).toEqual({ name: "/v2/models/:name", params: { name: "special" } });
    expect(hit("GET", "/v2/models/a%20b")).toEqual({ name: "/v2/models/:name", params: { name: "a b" } });
    const wrongMethod = r.match("GET", "/v1/recommend");
    expect(wrongMethod).toBeInstanceOf(HttpError);
    expect((wrongMethod as HttpError).status).toBe(405);
    expect((wrongMethod as HttpError).headers.allow).toBe("POST");
    expect(r.match("GET", "/nowhere")).toBeUndefined();
  });
});
