import type { FieldPath, SourceMappings } from './event-mapping';

// The order fields sync cares about, by domain name; the rest of an order stays in Shopify.
const orderFields: Readonly<Record<string, FieldPath>> = {
  name: 'name',
  orderNumber: 'order_number',
  email: 'email',
  customerId: 'customer.id',
  totalPrice: 'total_price',
  subtotalPrice: 'subtotal_price',
  currency: 'currency',
  financialStatus: 'financial_status',
  fulfillmentStatus: 'fulfillment_status',
  cancelledAt: 'cancelled_at',
  lineItems: 'line_items',
};

const customerFields: Readonly<Record<string, FieldPath>> = {
  email: 'email',
  firstName: 'first_name',
  lastName: 'last_name',
  phone: 'phone',
  state: 'state',
  emailMarketingConsent: 'email_marketing_consent.state',
  ordersCount: 'orders_count',
  totalSpent: 'total_spent',
};

/** Shopify webhook topics (`X-Shopify-Topic`), one resource per request. */
export const shopifyMappings: SourceMappings = {
  'customers/create': {
    produces: 'leads.captured',
    externalId: { from: 'id' },
    email: { from: 'email' },
    firstName: { from: ['first_name', 'default_address.first_name'] },
    lastName: { from: ['last_name', 'default_address.last_name'] },
    company: { from: 'default_address.company' },
    consents: {
      email_marketing: { from: 'email_marketing_consent.state', grantedWhen: ['subscribed'] },
      sms_marketing: { from: 'sms_marketing_consent.state', grantedWhen: ['subscribed'] },
    },
    occurredAt: { from: 'created_at' },
  },
  'customers/update': {
    produces: 'records.changed',
    objectType: 'customer',
    operation: 'update',
    externalId: { from: 'id' },
    changedAt: { from: 'updated_at', required: true },
    fields: { pick: customerFields },
  },
  'orders/create': {
    produces: 'records.changed',
    objectType: 'order',
    operation: 'create',
    externalId: { from: 'id' },
    changedAt: { from: ['created_at', 'updated_at'], required: true },
    fields: { pick: orderFields },
  },
  'orders/updated': {
    produces: 'records.changed',
    objectType: 'order',
    operation: 'update',
    externalId: { from: 'id' },
    changedAt: { from: 'updated_at', required: true },
    fields: { pick: orderFields },
  },
  'orders/paid': {
    produces: 'records.changed',
    objectType: 'order',
    operation: 'update',
    externalId: { from: 'id' },
    changedAt: { from: 'updated_at', required: true },
    fields: { pick: orderFields },
  },
  'orders/cancelled': {
    produces: 'records.changed',
    objectType: 'order',
    operation: 'update',
    externalId: { from: 'id' },
    changedAt: { from: ['cancelled_at', 'updated_at'], required: true },
    fields: { pick: orderFields },
  },
  // Shopify's delete payload is only `{ "id": … }` (dated by X-Shopify-Triggered-At; a full order body is refused).
  'orders/delete': {
    produces: 'records.changed',
    objectType: 'order',
    operation: 'delete',
    externalId: { from: 'id' },
    fields: { pick: {} },
  },
};

/**
 * The Admin GraphQL type of each mapped topic's resource, by the topic's first part: a full resource body names it
 * in `admin_graphql_api_id` (gid://shopify/Order/…), which is signed, so the unsigned X-Shopify-Topic is checked
 * against it. Every topic in shopifyMappings needs an entry (a spec checks it; deliveries are refused without one).
 */
export const shopifyTopicResources: Readonly<Record<string, string>> = {
  customers: 'Customer',
  orders: 'Order',
};
