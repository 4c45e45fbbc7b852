import type { AgentBackend } from '../backend.ts'
import type { Config } from '../config.ts'
import { echoBackend } from './echo.ts'

/** The backend a config's `backend` section names. */
export const createBackend = (config: Config['backend']): AgentBackend => {
  switch (config.type) {
    case 'echo':
      return echoBackend(config)
  }
}
