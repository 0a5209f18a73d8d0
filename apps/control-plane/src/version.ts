/** The Portolan release, reported by /version and the CLI. */
export const PORTOLAN_VERSION = '0.1.0';
