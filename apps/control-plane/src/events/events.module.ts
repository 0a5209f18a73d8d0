import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';

/** The event journal's read API; the journal itself (EVENT_JOURNAL) is one of the app's global edges. */
@Module({ controllers: [EventsController] })
export class EventsModule {}
