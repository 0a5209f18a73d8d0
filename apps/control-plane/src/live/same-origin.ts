/**
 * Whether a WebSocket upgrade comes from a page of another site. Browsers send `Origin` on every
 * WebSocket upgrade and, unlike fetch, never ask the server first (no CORS preflight), so a page
 * of any site could open the live feed with a token it holds (cross-site WebSocket hijacking) or
 * probe tokens through it. The dashboard is served by the control plane itself (/ui/ on the API
 * port), so its Origin is `https://` and the Host it connects to. Clients that are not browsers
 * send no Origin and are not refused for it.
 */
export function isForeignOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return false;
  if (!host) return true;
  try {
    const from = new URL(origin);
    // The URL parser drops a default port (https://h:443 is https://h), on both sides alike.
    return from.protocol !== 'https:' || from.host !== new URL(`https://${host}`).host;
  } catch {
    // "null" (a sandboxed frame, a file:// page) and anything unparsable.
    return true;
  }
}
