/** Configuration keys of inbound webhooks and lead capture. */
export const webhooksConfigShape = {};
