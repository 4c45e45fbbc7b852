/**
 * The gateway backend: each turn goes to an OpenClaw Gateway over its WebSocket protocol.
 * (Being written.)
 */
import type { AgentBackend, BackendRuntime } from '../backend.ts'
import type { GatewayBackendConfig } from '../config.ts'

export type GatewayBackendOptions = Omit<GatewayBackendConfig, 'type'> & BackendRuntime

export const gatewayBackend = (_options: GatewayBackendOptions): AgentBackend => {
  throw new Error('the gateway backend is not implemented yet')
}
