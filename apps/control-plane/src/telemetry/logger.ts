/**
 * Structured JSON logs (pino) behind Nest's LoggerService, each line carrying the trace id of the
 * request it belongs to.
 */
import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { currentContext } from './request-context';

export function createRootLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'portolan-control-plane' },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => {
        const context = currentContext();
        return context ? { traceId: context.traceId, ...(context.principal ? { principal: context.principal } : {}) } : {};
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Nest's start-up chatter (one line per module and route) is debug detail, not news. */
const NEST_BOOT_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory']);

export class JsonLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.write(context && NEST_BOOT_CONTEXTS.has(context) ? 'debug' : 'info', message, context);
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.write('error', message, context, trace ? { stack: trace } : {});
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.write('trace', message, context);
  }

  /** Objects become fields (their `msg` the message), so call sites can log structured events. */
  private write(level: pino.Level, message: unknown, context?: string, extra: object = {}): void {
    const fields = { ...(context ? { component: context } : {}), ...extra };
    if (typeof message === 'object' && message !== null) {
      const { msg, ...rest } = message as { msg?: string };
      this.logger[level]({ ...fields, ...rest }, msg ?? '');
    } else {
      this.logger[level](fields, String(message));
    }
  }
}
