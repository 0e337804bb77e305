/** Configuration keys of the tracking API. */
export const trackingConfigShape = {};
