import { redactSecrets } from './redact';

describe('redactSecrets', () => {
  it('removes the secret part of imgsrv tokens but keeps the id for tracing', () => {
    const token = `imgsrv_0f3a9c0f3a9c0f3a_${'AbCdEf123-_x'.repeat(4)}`;
    expect(redactSecrets(`token ${token} used`)).toBe(
      'token imgsrv_0f3a9c0f3a9c0f3a_[REDACTED] used',
    );
  });

  it('leaves metric and other imgsrv_ names alone', () => {
    const line = 'imgsrv_upload_sessions has already been registered';
    expect(redactSecrets(line)).toBe(line);
  });

  it('removes bearer and basic credentials', () => {
    expect(redactSecrets('Authorization: Bearer abc.def.ghi')).toBe(
      'Authorization: Bearer [REDACTED]',
    );
    expect(redactSecrets('authorization":"Basic dXNlcjpwYXNz"')).toBe(
      'authorization":"Basic [REDACTED]"',
    );
  });

  it('removes passwords from URLs', () => {
    expect(redactSecrets('postgres://app:s3cret@db:5432/x')).toBe(
      'postgres://app:[REDACTED]@db:5432/x',
    );
    expect(redactSecrets('redis://:pw@127.0.0.1:6379')).toBe('redis://:[REDACTED]@127.0.0.1:6379');
    expect(redactSecrets('https://any:imgsrv_a_b@host')).not.toContain('imgsrv_a_b');
  });

  it('removes JWTs', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJlLWJ5dGVz';
    expect(redactSecrets(`got ${jwt}`)).toBe('got [REDACTED_JWT]');
  });

  it('leaves ordinary text alone', () => {
    const line = '{"msg":"request","url":"/v1/images/debian-12","status":200}';
    expect(redactSecrets(line)).toBe(line);
  });
});
