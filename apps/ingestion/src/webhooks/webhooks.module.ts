import { Module } from '@nestjs/common';

/** Signed inbound webhooks from CRMs and shops. */
@Module({})
export class WebhooksModule {}
