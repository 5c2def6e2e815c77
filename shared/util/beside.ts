import { fileURLToPath } from "node:url";

/**
 * The path of a file relative to a module (`base` = its import.meta.url), built at run time.
 * Bundlers (webpack, so ncc) rewrite a literal `new URL("./x", import.meta.url)` into an asset
 * copied next to the bundle, which breaks references to files that are themselves entry
 * points (dist/cli/index.js, the bundle's own index.js): going through this function keeps the
 * reference as written.
 */
export function besideModule(relative: string, base: string): string {
  return fileURLToPath(new URL(relative, base));
}
