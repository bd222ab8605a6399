import { apiError, networkError } from './errors';

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Awaits an openapi-fetch call and returns its data, or throws the CliError for its problem (or
 * for the network failure). `allow` lists statuses answered with `undefined` instead (a 404 that
 * means "create it").
 */
export async function call<T>(
  what: string,
  promise: Promise<FetchResult<T>>,
  allow: number[] = [],
): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await promise;
  } catch (error) {
    throw networkError(what, error);
  }
  if (result.error !== undefined || !result.response.ok) {
    if (allow.includes(result.response.status)) return undefined as T;
    throw apiError(what, result.response, result.error);
  }
  return result.data as T;
}
