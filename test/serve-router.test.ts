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

  it("answers HEAD with the GET route, ignores one trailing slash, and lists HEAD where GET is allowed", () => {
    const r = new Router().add("GET", "/v2", handler).add("GET", "/v2/models/:name", handler).add("POST", "/v1/recommend", handler);
    const name = (method: string, path: string) => {
      const m = r.match(method, path);
      return m && !(m instanceof HttpError) ? m.route.name : m;
    };
    expect(name("HEAD", "/v2")).toBe("/v2");
    expect(name("GET", "/v2/")).toBe("/v2");
    expect(name("HEAD", "/v2/models/a/")).toBe("/v2/models/:name");
    expect(name("POST", "/v1/recommend/")).toBe("/v1/recommend");
    expect(r.match("GET", "/v2//")).toBeUndefined();
    expect((r.match("DELETE", "/v2") as HttpError).headers.allow).toBe("GET, HEAD");
    expect((r.match("HEAD", "/v1/recommend") as HttpError).headers.allow).toBe("POST");
    expect((r.match("PUT", "/v2/models/" + "x".repeat(5000)) as HttpError).message.length).toBeLessThan(200);
  });
});
