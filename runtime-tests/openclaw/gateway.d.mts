// Types for what test/config.test.ts takes from gateway.mjs (type-checked files import it).
export interface GatewayConfigOptions {
  port: number
  token?: string
  mockUrl: string
  logFile: string
  auth?: Record<string, unknown>
  agents?: Record<string, unknown>
}

/** The config file the real-gateway test gives the OpenClaw gateway. */
export declare const gatewayConfig: (options: GatewayConfigOptions) => Record<string, unknown>
