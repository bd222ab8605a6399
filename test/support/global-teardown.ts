import { dropDatabase } from './test-database';

export default async function globalTeardown(): Promise<void> {
  const name = process.env.IMGSRV_TEST_TEMPLATE_DB;
  if (name) {
    await dropDatabase(name);
    delete process.env.IMGSRV_TEST_TEMPLATE_DB;
  }
}
