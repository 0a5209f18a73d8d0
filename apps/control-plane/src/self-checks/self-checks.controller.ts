/** `GET /v1/self-checks`: what would make the dashboards lie right now, each finding naming its object. */
import { Controller, Get } from '@nestjs/common';
import type { SelfCheckReport } from '@portolan/api';
import { Access } from '../auth/roles';
import { SelfChecksService } from './self-checks.service';

@Controller()
export class SelfChecksController {
  constructor(private readonly selfChecks: SelfChecksService) {}

  @Get('v1/self-checks')
  @Access('viewer')
  report(): SelfCheckReport {
    const findings = this.selfChecks.evaluate();
    return { kind: 'SelfCheckReport', checkedAt: new Date().toISOString(), windowSeconds: this.selfChecks.windowMs / 1000, findings };
  }
}
