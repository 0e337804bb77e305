/**
 * Multi-touch attribution: how much of one conversion each touchpoint before it earns, under the usual models
 * (first touch, last touch, linear, time decay, position based). Pure arithmetic; the reporting service loads the
 * touches and sums the credits.
 *
 * - A conversion always hands out exactly 1 credit: with no touchpoint in the look-back window it all goes to
 *   `(direct)`, so model totals stay comparable and equal the number of conversions.
 * - Touches are put in a canonical order first (time, then channel, kind and the other fields) because "first" and
 *   "last" must not depend on the order the store returned them in: two touches in the same millisecond happen.
 * - Time decay measures a touch's age at the conversion, not at report time, so a conversion's credits never change
 *   as it gets older and a re-run over the same events gives the same report.
 */

/** One marketing touch on the way to a conversion. */
export interface Touchpoint {
  /** Event time, epoch ms. */
  at: number;
  /** What the credit is reported under: a utm source/medium pair or `journey:<id>`. */
  channel: string;
  source?: string;
  medium?: string;
  campaign?: string;
  referrer?: string;
  kind: 'visit' | 'message_click';
}

/** A stage reached or a goal event, the thing the touches get credit for. */
export interface Conversion {
  /** Event time, epoch ms. */
  at: number;
  kind: string;
  revenue?: number;
}

export const ATTRIBUTION_MODELS = [
  'first_touch',
  'last_touch',
  'linear',
  'time_decay',
  'position_based',
] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

/** Percent of the credit for the first touch, the touches in between and the last touch; they sum to 100. */
export interface PositionShares {
  first: number;
  middle: number;
  last: number;
}

export interface AttributionOptions {
  /** Only touches at most this many days before the conversion count (default 30). */
  lookbackDays?: number;
  /** Time decay: a touch this many days older than another earns half as much (default 7). */
  halfLifeDays?: number;
  /** Position based: shares in percent (default 40/20/40). */
  positionShares?: PositionShares;
}

/**
 * Where a conversion with no touchpoint in its window goes, as GA- and Segment-style reports do: the visitor came
 * on their own, so the conversion is still counted and every model's credits still sum to 1.
 */
export const DIRECT_CHANNEL = '(direct)';

export interface Attribution {
  /** Credit of each touchpoint by its index in the input; 0 outside the look-back window. */
  readonly credits: readonly number[];
  /** Credit for `(direct)`: 1 when no touchpoint fell in the window, else 0. */
  readonly direct: number;
}

export interface ChannelCredit {
  /** Share of the conversion, 0..1. */
  readonly credit: number;
  /** The conversion's revenue times the credit; absent when the conversion has no revenue. */
  readonly revenue?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULTS = {
  lookbackDays: 30,
  halfLifeDays: 7,
  positionShares: { first: 40, middle: 20, last: 40 },
} as const;

/** Each touchpoint's credit for the conversion under the model (credits and `direct` sum to 1). */
export function attribute(
  touches: readonly Touchpoint[],
  conversion: Conversion,
  model: AttributionModel,
  options: AttributionOptions = {},
): Attribution {
  const credits = touches.map(() => 0);
  const inWindow = creditsInWindow(touches, conversion, model, options);
  for (const { index, credit } of inWindow) credits[index] = credit;
  return { credits, direct: inWindow.length === 0 ? 1 : 0 };
}

/**
 * The conversion's credit (and revenue) per channel under the model, channels in alphabetical order. Every channel
 * touched in the window is listed, with 0 when the model gives it nothing (first touch, last touch).
 */
export function creditByChannel(
  touches: readonly Touchpoint[],
  conversion: Conversion,
  model: AttributionModel,
  options: AttributionOptions = {},
): Map<string, ChannelCredit> {
  const inWindow = creditsInWindow(touches, conversion, model, options);
  const totals = new Map<string, number>();
  if (inWindow.length === 0) totals.set(DIRECT_CHANNEL, 1);
  // Summed in canonical touch order so that not even the float rounding depends on the input order.
  for (const { index, credit } of inWindow) {
    const channel = (touches[index] as Touchpoint).channel;
    totals.set(channel, (totals.get(channel) ?? 0) + credit);
  }
  const byChannel = new Map<string, ChannelCredit>();
  for (const channel of [...totals.keys()].sort(compareText)) {
    const credit = totals.get(channel) ?? 0;
    byChannel.set(
      channel,
      conversion.revenue === undefined ? { credit } : { credit, revenue: conversion.revenue * credit },
    );
  }
  return byChannel;
}

/** The touches that led to one conversion. */
export interface ConversionPath {
  touches: readonly Touchpoint[];
  conversion: Conversion;
}

/** One dashboard row: what a channel earns under each model, summed over the conversions compared. */
export interface ChannelComparison {
  readonly channel: string;
  /** Conversions credited to the channel (fractions: they add up to the number of conversions per model). */
  readonly credit: Readonly<Record<AttributionModel, number>>;
  /** Revenue credited to the channel; conversions without revenue add nothing. */
  readonly revenue: Readonly<Record<AttributionModel, number>>;
}

/**
 * Every model's credit per channel side by side, over one or more conversions, channels in alphabetical order. A
 * channel some model credits is shown under every model, with 0 where that model gives it nothing.
 */
export function compareModels(
  paths: readonly ConversionPath[],
  options: AttributionOptions = {},
): ChannelComparison[] {
  const rows = new Map<string, ChannelComparison>();
  for (const { touches, conversion } of paths) {
    for (const model of ATTRIBUTION_MODELS) {
      for (const [channel, earned] of creditByChannel(touches, conversion, model, options)) {
        const row = rows.get(channel) ?? { channel, credit: zeroPerModel(), revenue: zeroPerModel() };
        rows.set(channel, {
          channel,
          credit: { ...row.credit, [model]: row.credit[model] + earned.credit },
          revenue: { ...row.revenue, [model]: row.revenue[model] + (earned.revenue ?? 0) },
        });
      }
    }
  }
  return [...rows.values()].sort((a, b) => compareText(a.channel, b.channel));
}

/** The in-window touches' input indices and credits, in canonical order; empty when the window holds none. */
function creditsInWindow(
  touches: readonly Touchpoint[],
  conversion: Conversion,
  model: AttributionModel,
  options: AttributionOptions,
): { index: number; credit: number }[] {
  const settings = resolveOptions(options);
  const window = touchesInWindow(touches, conversion, settings.lookbackDays);
  if (window.length === 0) return [];
  const shares = modelShares(
    window.map((i) => touches[i] as Touchpoint),
    model,
    settings,
  );
  return window.map((index, position) => ({ index, credit: shares[position] ?? 0 }));
}

interface ResolvedOptions {
  lookbackDays: number;
  halfLifeDays: number;
  positionShares: PositionShares;
}

function resolveOptions(options: AttributionOptions): ResolvedOptions {
  const lookbackDays = options.lookbackDays ?? DEFAULTS.lookbackDays;
  const halfLifeDays = options.halfLifeDays ?? DEFAULTS.halfLifeDays;
  const positionShares = options.positionShares ?? DEFAULTS.positionShares;
  if (!Number.isFinite(lookbackDays) || lookbackDays < 0)
    throw new RangeError(`look-back window must be a finite number of days ≥ 0, got ${lookbackDays}`);
  if (!Number.isFinite(halfLifeDays) || halfLifeDays <= 0)
    throw new RangeError(`time-decay half-life must be a finite number of days > 0, got ${halfLifeDays}`);
  const { first, middle, last } = positionShares;
  const valid = [first, middle, last].every((share) => Number.isFinite(share) && share >= 0);
  if (!valid || Math.abs(first + middle + last - 100) > 1e-9)
    throw new RangeError(`position-based shares must be ≥ 0 and sum to 100, got ${first}/${middle}/${last}`);
  return { lookbackDays, halfLifeDays, positionShares };
}

/** Input indices of the touches in the look-back window, in canonical order. */
function touchesInWindow(
  touches: readonly Touchpoint[],
  conversion: Conversion,
  lookbackDays: number,
): number[] {
  const opens = conversion.at - lookbackDays * DAY_MS;
  // A touch after the conversion cannot have led to it. Filtering first also keeps a NaN time out of the sort.
  const inWindow = touches.flatMap((t, i) => (opens <= t.at && t.at <= conversion.at ? [i] : []));
  // Touches still tied after every field are identical, so which one comes first changes no channel's credit.
  return inWindow.sort((a, b) => compareTouches(touches[a] as Touchpoint, touches[b] as Touchpoint) || a - b);
}

function compareTouches(a: Touchpoint, b: Touchpoint): number {
  return (
    a.at - b.at ||
    compareText(a.channel, b.channel) ||
    compareText(a.kind, b.kind) ||
    compareText(a.source ?? '', b.source ?? '') ||
    compareText(a.medium ?? '', b.medium ?? '') ||
    compareText(a.campaign ?? '', b.campaign ?? '') ||
    compareText(a.referrer ?? '', b.referrer ?? '')
  );
}

/** Code-unit order, not the locale's: the same on every machine. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Shares of the in-window touches (canonical order, at least one), summing to 1. */
function modelShares(
  touches: readonly Touchpoint[],
  model: AttributionModel,
  settings: ResolvedOptions,
): number[] {
  const n = touches.length;
  switch (model) {
    case 'first_touch':
      return touches.map((_, i) => (i === 0 ? 1 : 0));
    case 'last_touch':
      return touches.map((_, i) => (i === n - 1 ? 1 : 0));
    case 'linear':
      return touches.map(() => 1 / n);
    case 'time_decay':
      return timeDecayShares(touches, settings.halfLifeDays);
    case 'position_based':
      return positionShares(n, settings.positionShares);
  }
}

function timeDecayShares(touches: readonly Touchpoint[], halfLifeDays: number): number[] {
  const halfLifeMs = halfLifeDays * DAY_MS;
  // weight = 2^(-(conversion.at - touch.at) / halfLife), each divided by the newest touch's weight: the shares stay
  // the same, but a short half-life can no longer underflow every weight to 0. What is left is the age gap below.
  const newest = touches.reduce((latest, t) => Math.max(latest, t.at), -Infinity);
  const weights = touches.map((t) => 2 ** (-(newest - t.at) / halfLifeMs));
  const total = weights.reduce((sum, w) => sum + w, 0);
  return weights.map((w) => w / total);
}

/**
 * Position based: the first and last touches get their shares, the ones in between split the middle share evenly.
 * One touch gets everything. Two touches have no middle, so they split the whole credit in proportion to the first
 * and last shares: 50/50 at the default 40/20/40, as Google Analytics' position-based model gives, and 0/0/100 still
 * means "last touch" (evenly when both shares are 0, e.g. 0/100/0).
 */
function positionShares(n: number, shares: PositionShares): number[] {
  if (n === 1) return [1];
  const ends = shares.first + shares.last;
  if (n === 2) return ends === 0 ? [0.5, 0.5] : [shares.first / ends, shares.last / ends];
  const middle = shares.middle / 100 / (n - 2);
  return Array.from({ length: n }, (_, i) =>
    i === 0 ? shares.first / 100 : i === n - 1 ? shares.last / 100 : middle,
  );
}

function zeroPerModel(): Record<AttributionModel, number> {
  return { first_touch: 0, last_touch: 0, linear: 0, time_decay: 0, position_based: 0 };
}
