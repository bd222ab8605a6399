import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { api } from './catalog';
import { eventually } from './waiting';
import type { TestApp } from './test-app';

/** One request a receiver got. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The parsed envelope: {id, type, timestamp, data}. */
  readonly json: { id: string; type: string; timestamp: string; data: Record<string, any> };
}

/**
 * What the receiver does with a request: answer a status (with optional headers), or hold it
 * unanswered until the connection closes (to keep a delivery in flight).
 */
export type Answer = number | { status: number; headers?: Record<string, string> } | 'hold';

export interface Receiver {
  /** The URL deliveries go to (a path of its own per receiver). */
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  /** Requests held open ('hold'), by the order they came. */
  readonly held: ServerResponse[];
  /** Sets how the next requests are answered (default 204). */
  answer(fn: (request: Received, index: number) => Answer): void;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every request, as a webhook receiver would. */
export async function startReceiver(path = '/hook'): Promise<Receiver> {
  const received: Received[] = [];
  const held: ServerResponse[] = [];
  let decide: (request: Received, index: number) => Answer = () => 204;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Received['json'];
      try {
        json = JSON.parse(body);
      } catch {
        json = { id: '', type: 'unparseable', timestamp: '', data: {} };
      }
      const request = { headers: req.headers, body, json };
      received.push(request);
      const answer = decide(request, received.length - 1);
      if (answer === 'hold') {
        held.push(res);
        return;
      }
      const { status, headers = {} } = typeof answer === 'number' ? { status: answer } : answer;
      res.writeHead(status, headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    received,
    held,
    answer: (fn) => (decide = fn),
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Verifies a received request with the standardwebhooks library (throws when it does not). */
export function verify(secret: string, request: Received): unknown {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  });
}

export interface CreatedWebhook {
  readonly id: string;
  readonly secret: string;
  readonly body: Record<string, any>;
}

export async function createWebhook(
  app: TestApp,
  headers: Record<string, string>,
  url: string,
  events: string[],
  description?: string,
): Promise<CreatedWebhook> {
  const res = await api(app, 'POST', '/v1/webhooks', headers, {
    url,
    events,
    ...(description === undefined ? {} : { description }),
  });
  if (res.status !== 201)
    throw new Error(`creating a webhook answered ${res.status}: ${JSON.stringify(res.body)}`);
  return { id: res.body.id, secret: res.body.secret, body: res.body };
}

export interface DeliveryBody {
  id: string;
  webhook_id: string;
  event: { id: string; type: string; image: string | null; occurred_at: string };
  status: string;
  attempts: number;
  response_code: number | null;
  latency_ms: number | null;
  error: string | null;
  next_attempt_at: string | null;
}

/** Every delivery of a webhook, newest event first (follows next_cursor). */
export async function deliveriesOf(
  app: TestApp,
  headers: Record<string, string>,
  webhookId: string,
): Promise<DeliveryBody[]> {
  const all: DeliveryBody[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(
      app,
      'GET',
      `/v1/webhooks/${webhookId}/deliveries?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      headers,
    );
    if (res.status !== 200)
      throw new Error(`listing deliveries answered ${res.status}: ${JSON.stringify(res.body)}`);
    all.push(...res.body.deliveries);
    cursor = res.body.next_cursor;
  } while (cursor);
  return all;
}

/** Polls until every delivery of the webhook has ended and there are `count` of them. */
export function waitForDeliveries(
  app: TestApp,
  headers: Record<string, string>,
  webhookId: string,
  count: number,
  ended: string[] = ['succeeded', 'failed', 'cancelled'],
): Promise<DeliveryBody[]> {
  let last: DeliveryBody[] = [];
  return eventually(
    `${count} ended deliveries of webhook ${webhookId}`,
    async () => {
      last = await deliveriesOf(app, headers, webhookId);
      return last.length === count && last.every((d) => ended.includes(d.status))
        ? last
        : undefined;
    },
    { attempts: 1200, intervalMs: 50 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last seen: ${JSON.stringify(last)}`);
  });
}
