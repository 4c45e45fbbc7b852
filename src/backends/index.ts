export { createBackend } from './create-backend.ts'
export { echoBackend, type EchoBackendOptions } from './echo.ts'
export { inProcessBackend, type InProcessBackendOptions, type InProcessRun } from './in-process.ts'
