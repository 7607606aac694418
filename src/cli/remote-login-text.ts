// The QR code the CLI draws under a device code on a terminal; the lines themselves are the library's
// (`loginEventLines`), so the CLI and a library sign-in with no listener say the same.
/** Loads a renderer of QR codes in Unicode half blocks for a terminal (light modules drawn, so they read on dark themes). */
export async function loadQrRenderer(): Promise<(url: string) => string[]> {
  const { renderUnicodeCompact } = await import('uqr');
  return (url) => renderUnicodeCompact(url, { border: 1, ecc: 'L' }).split('\n');
}
