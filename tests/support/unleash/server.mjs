// A real Unleash server for the integration tests, configured by the
// environment scripts/unleash.sh sets (DATABASE_URL, HTTP_PORT, INIT_ADMIN_API_TOKENS, ...).
import { start } from 'unleash-server';

await start({});
