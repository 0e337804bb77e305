import { Liquid, type Template } from 'liquidjs';
import { LRUCache } from 'lru-cache';

/** What a message template can read: `contact.firstName`, `event.cartId`, `journey.id`. */
export interface TemplateData {
  contact: Record<string, unknown>;
  event: Record<string, unknown>;
  journey: { id: string; version: number };
  /** The contact's one-click unsubscribe link, for a footer. */
  unsubscribe_url: string;
}

/**
 * Liquid templates (Shopify's syntax marketers know), parsed once per text. HTML bodies escape every output so a
 * contact's name cannot inject markup; subjects and plain text are not HTML and stay as written.
 */
export class MessageTemplates {
  private readonly html = new Liquid({ outputEscape: 'escape', strictFilters: true, ownPropertyOnly: true });
  private readonly plain = new Liquid({ strictFilters: true, ownPropertyOnly: true });
  private readonly parsed = new LRUCache<string, Template[]>({ max: 2_000 });

  render(text: string, data: TemplateData, kind: 'html' | 'plain'): Promise<string> {
    const engine = kind === 'html' ? this.html : this.plain;
    const cacheKey = `${kind}\u0000${text}`;
    let templates = this.parsed.get(cacheKey);
    if (!templates) {
      templates = engine.parse(text);
      this.parsed.set(cacheKey, templates);
    }
    return engine.render(templates, data) as Promise<string>;
  }

  /** A template's syntax problem, or null: journeys are checked when written, not when the first contact arrives. */
  problemOf(text: string): string | null {
    try {
      this.plain.parse(text);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  }
}
