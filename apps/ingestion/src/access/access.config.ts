/** Configuration keys of edge access (keys, OAuth2, rate limits). */
export const accessConfigShape = {};
