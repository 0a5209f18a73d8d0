/**
 * Structured JSON logs, one object per line on stderr, the same shape as the control plane's
 * (level, time, msg, plus fields; traceId when a request is involved). Hand-written rather than
 * pino because the gateway logs a handful of lifecycle lines, not per-request output; access logs
 * are metrics and traces.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 };
const threshold = RANK[(process.env.PORTOLAN_LOG_LEVEL as Level | undefined) ?? 'info'] ?? RANK.info;

function write(level: Level, fields: object, message: string): void {
  if (RANK[level] < threshold) return;
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), component: 'gateway', msg: message, ...fields })}\n`);
}

export const log = {
  debug: (fields: object, message: string) => write('debug', fields, message),
  info: (fields: object, message: string) => write('info', fields, message),
  warn: (fields: object, message: string) => write('warn', fields, message),
  error: (fields: object, message: string) => write('error', fields, message),
};
