import type { AgentBackend, BackendRuntime } from '../backend.ts'
import type { Config } from '../config.ts'
import { echoBackend } from './echo.ts'
import { gatewayBackend } from './gateway.ts'
import { openaiBackend } from './openai.ts'

/** The backend a config's `backend` section names, with what the runtime lends it. */
export const createBackend = (
  config: Config['backend'],
  runtime: BackendRuntime = {}
): AgentBackend => {
  switch (config.type) {
    case 'echo':
      return echoBackend(config)
    case 'gateway':
      return gatewayBackend({ ...config, ...runtime })
    case 'openai':
      return openaiBackend({ ...config, ...runtime })
  }
}
