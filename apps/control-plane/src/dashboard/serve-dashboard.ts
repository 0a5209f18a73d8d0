/**
 * The built dashboard (apps/dashboard, a Vite build with base /ui/) served under /ui/ on the
 * API's HTTPS port, so operators open the URL they already use for kubectl. The files are public:
 * what they show comes from API calls that carry the operator's token.
 *
 * The dashboard routes on the client: any /ui/ path that is not a file answers index.html, except
 * under /ui/assets/, where a missing file is a 404 (an old index asking for a chunk a newer build
 * replaced must fail, not get HTML as JavaScript). Built assets have content hashes in their names
 * and are cached for good; index.html is revalidated on every load so a new build shows at once.
 *
 * Mounted as plain Express middleware before Nest's routes: no route of its own shows up in the
 * API's route list, and the API keeps working whether or not a dashboard was built.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { failureStatus } from '@portolan/api';

export const DASHBOARD_PATH = '/ui/';
const IMMUTABLE = 'public, max-age=31536000, immutable';
/**
 * The signed-in token sits in the page's sessionStorage: only the dashboard's own scripts may run,
 * and they may talk only to this origin (the API and the live feed). Styles may be inline: the
 * editor and the charts set them at run time.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export function serveDashboard(dir: string): Router {
  const index = join(dir, 'index.html');
  const assets = join(dir, 'assets');
  // Strict: "/ui" and "/ui/" are different paths here (the first redirects, the second is the app).
  const router = express.Router({ strict: true });
  const securityHeaders = (response: Response) => {
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('X-Frame-Options', 'DENY');
    response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  };

  router.get(['/', '/ui'], (_request, response) => response.redirect(302, DASHBOARD_PATH));
  router.use(
    '/ui',
    express.static(dir, {
      index: false,
      redirect: false,
      cacheControl: false,
      setHeaders: (response, path) => {
        securityHeaders(response);
        response.setHeader('Cache-Control', path.startsWith(assets + sep) ? IMMUTABLE : 'no-cache');
      },
    }),
  );
  router.use('/ui', (request: Request, response: Response, next: NextFunction) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return next();
    if (request.path.startsWith('/assets/')) {
      const status = failureStatus(404, 'NotFound', `no dashboard asset ${request.originalUrl}: reload the page, the dashboard was probably rebuilt`);
      return void response.status(404).json(status);
    }
    if (!existsSync(index)) {
      const status = failureStatus(
        404,
        'NotFound',
        // The directory is the operator's to know (the start log names it), not every visitor's.
        'the dashboard is not built: its directory (PORTOLAN_DASHBOARD_DIR, by default apps/dashboard/dist) has no index.html. Run `npm run build` at the repository root, or set PORTOLAN_DASHBOARD_DIR to a built dashboard, then reload.',
      );
      return void response.status(404).json(status);
    }
    securityHeaders(response);
    response.setHeader('Cache-Control', 'no-cache');
    response.sendFile(index, (error) => {
      if (error && !response.headersSent) next(error);
    });
  });
  return router;
}
