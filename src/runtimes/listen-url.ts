/** The URL a server listens on, with an IPv6 address in brackets. */
export const listenUrl = (hostname: string, port: number) =>
  `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`
