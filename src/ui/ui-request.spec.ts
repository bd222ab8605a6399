import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/errors/domain-error';
import type { AppConfig } from '../config/app-config';
import { remoteUrlOf, sameOrigin, stringParams } from './ui-request';

const request = (headers: Record<string, string>, protocol = 'http') =>
  ({ headers, protocol }) as unknown as FastifyRequest;

describe('stringParams', () => {
  it('keeps the named single values and drops empty ones', () => {
    expect(stringParams({ q: 'deb', os: '', other: 'x' }, ['q', 'os'] as const)).toEqual({
      q: 'deb',
    });
  });

  it.each([[['a', 'b']], ['x'.repeat(201)]])('refuses %p with a 400', (value) => {
    expect(() => stringParams({ q: value }, ['q'] as const)).toThrow(DomainError);
  });
});

describe('sameOrigin', () => {
  it('accepts a same-origin post and one from a client that names no origin', () => {
    expect(sameOrigin(request({ host: 'h:1', origin: 'http://h:1' }))).toBe(true);
    expect(sameOrigin(request({ host: 'h:1', 'sec-fetch-site': 'same-origin' }))).toBe(true);
    expect(sameOrigin(request({ host: 'h:1' }))).toBe(true);
  });

  it('refuses a post from another site', () => {
    expect(sameOrigin(request({ host: 'h:1', origin: 'https://evil.example' }))).toBe(false);
    expect(sameOrigin(request({ host: 'h:1', 'sec-fetch-site': 'cross-site' }))).toBe(false);
    expect(sameOrigin(request({ host: 'h:1', origin: 'null' }))).toBe(false);
  });
});

describe('remoteUrlOf', () => {
  const config = (tls: boolean) =>
    ({ http: { tlsListen: tls ? { host: '0.0.0.0', port: 8443 } : null } }) as AppConfig;

  it('names the TLS listener of the host the page was read from', () => {
    expect(remoteUrlOf(request({ host: 'images.example:8080' }), config(true))).toBe(
      'https://images.example:8443',
    );
    expect(remoteUrlOf(request({ host: '[::1]:8080' }), config(true))).toBe('https://[::1]:8443');
  });

  it('keeps the host of a page read over HTTPS, or behind a TLS proxy', () => {
    expect(remoteUrlOf(request({ host: 'images.example' }, 'https'), config(true))).toBe(
      'https://images.example',
    );
    expect(remoteUrlOf(request({ host: 'images.example' }), config(false))).toBe(
      'https://images.example',
    );
  });
});
