import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { version } from '../../package.json';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { failureText, isDelivered } from './delivery-plan';
import { envelope, type StoredEvent } from './event-payload';
import { refusedAddress, targetProblem } from './webhook-target';

export interface SendOutcome {
  readonly delivered: boolean;
  /** The receiver's status, when it answered at all. */
  readonly responseCode: number | null;
  /** Request start to response head (or to the failure). */
  readonly latencyMs: number;
  readonly error: string | null;
}

/** The target is internal and not allowed (in the URL or after resolution). */
export class TargetRefusedError extends Error {
  readonly code = 'IMGSRV_WEBHOOK_TARGET_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'TargetRefusedError';
  }
}

/** Standard Webhooks headers for one attempt: the event id, the attempt's time, the signature. */
export function signedHeaders(
  secret: string,
  eventId: string,
  body: string,
  now: Date,
): Record<string, string> {
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(eventId, now, body),
  };
}

/**
 * A resolver that refuses, for names not on the allow list, any answer holding an internal
 * address: the connection uses only what this returned, so the check cannot be raced by a second
 * resolution (DNS rebinding).
 */
export function guardedLookup(
  allowedHosts: readonly string[],
  resolve: typeof dnsLookup = dnsLookup,
): LookupFunction {
  return ((
    hostname: string,
    options: { all?: boolean },
    callback: (...args: unknown[]) => void,
  ) => {
    resolve(hostname, { ...options, all: true } as LookupAllOptions, (error, addresses) => {
      if (error) return callback(error);
      const list = addresses as LookupAddress[];
      const refused = refusedAddress(
        hostname,
        list.map((a) => a.address),
        allowedHosts,
      );
      if (refused !== null)
        return callback(
          new TargetRefusedError(
            `${hostname} resolves to the internal address ${refused}; list the host in IMGSRV_WEBHOOK_ALLOWED_HOSTS to allow it`,
          ),
        );
      if (list.length === 0) return callback(new Error(`${hostname} resolves to no address`));
      if (options?.all) return callback(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  }) as LookupFunction;
}

/**
 * Sends one signed delivery attempt: a POST of the event envelope, no redirects followed, bounded
 * by IMGSRV_WEBHOOK_TIMEOUT, to an address that passed the target checks.
 */
@Injectable()
export class WebhookSender implements OnApplicationShutdown {
  private readonly agent: Agent;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    const { timeoutMs, allowedHosts } = config.webhooks;
    this.agent = new Agent({
      connect: { timeout: timeoutMs, lookup: guardedLookup(allowedHosts) },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      // Deliveries are spread out in time: do not keep idle connections to receivers for long.
      keepAliveTimeout: 4_000,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  async send(
    url: string,
    secret: string,
    event: StoredEvent,
    signal?: AbortSignal,
  ): Promise<SendOutcome> {
    const { timeoutMs, allowedHosts, onlyAllowedHosts } = this.config.webhooks;
    const timeout = AbortSignal.timeout(timeoutMs);
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      // The URL was checked when saved; the allow list may have changed since.
      const problem = targetProblem(url, allowedHosts, onlyAllowedHosts);
      if (problem) throw new TargetRefusedError(`${url}: ${problem.detail}`);
      // Names are checked by guardedLookup when the connection resolves them.
      const body = envelope(event);
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': `imgsrv/${version} (webhooks)`,
          ...signedHeaders(secret, event.id, body, new Date()),
        },
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      const latencyMs = elapsed();
      // The body is not read: a receiver's answer says nothing beyond its status.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const status = response.statusCode;
      if (isDelivered(status))
        return { delivered: true, responseCode: status, latencyMs, error: null };
      const location = response.headers.location;
      return {
        delivered: false,
        responseCode: status,
        latencyMs,
        error:
          status >= 300 && status < 400
            ? `answered ${status}; redirects are not followed${location ? ` (to ${String(location)})` : ''}`
            : `answered ${status}`,
      };
    } catch (error) {
      const code = (error as { code?: string })?.code;
      const timedOut =
        timeout.aborted || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT';
      return {
        delivered: false,
        responseCode: null,
        latencyMs: elapsed(),
        error: timedOut ? `no answer within ${timeoutMs} ms` : failureText(unwrap(error)),
      };
    }
  }
}

/** The error that says what happened (undici wraps connection errors in `cause`). */
function unwrap(error: unknown): unknown {
  let e = error;
  for (let i = 0; i < 3 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  return e instanceof TargetRefusedError ? e : error;
}
