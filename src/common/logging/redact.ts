/**
 * Scrubs secrets from text bound for logs: imgsrv API token secrets, bearer and basic
 * credentials, passwords in URLs, and JWT-shaped strings. Applied to every log line, so a secret
 * that reaches a message, an error or a serialized object by accident still never lands on disk.
 */
const PATTERNS: readonly [RegExp, string][] = [
  [/\b(imgsrv_[a-z0-9]{16}_)[A-Za-z0-9_-]{20,}/g, '$1[REDACTED]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [REDACTED]'],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@"]*):[^@\s/"]*@/gi, '$1:[REDACTED]@'],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '[REDACTED_JWT]'],
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
