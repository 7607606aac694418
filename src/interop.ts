/**
 * The exports of a dynamically imported CommonJS package. Node exposes them as named exports, while a
 * code-split bundle exposes only `default`; this accepts both.
 */
export function commonJsExports<T extends object>(imported: T, probe: keyof T): T {
  if (probe in imported) return imported;
  return (imported as unknown as { default: T }).default;
}
