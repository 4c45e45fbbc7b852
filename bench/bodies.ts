/**
 * The request bodies the benchmark sends, shaped as real clients send them (the `openai` SDK's
 * field order and keys), and the answer text the echo backend gives each, for the baselines.
 */

const SYSTEM =
  'You are a careful assistant for an engineering team. Answer in plain English, cite the file ' +
  'or command you rely on, keep code blocks short, and say so when you are not sure. Never ' +
  'invent flags or options; when a tool exists for the job, name it. Prefer the smallest change ' +
  'that solves the problem, and explain what it does not cover.'

const TURNS = [
  'Our CI started failing after the dependency update this morning. Where do I start?',
  'Start with the first failing step in the log, not the last: later failures usually follow ' +
    'from the first. Then compare the lockfile diff with the packages that step loads.',
  'The first failure is a type error in the build, in a file nobody touched.',
  'Then a type changed under it: look for a dependency whose major version moved in the ' +
    'lockfile diff, and read its changelog for the type it exports to that file.',
  'It is the HTTP client: version 6 renamed the response type. How do I fix it for good?',
  'Import the new type name, run the type check, and pin the major version in package.json so ' +
    'the next update is a decision rather than a surprise. Add a test that builds the package.',
]

/** One short user message (64 characters): the echo answers in 8 events. */
export const SHORT = JSON.stringify({
  messages: [
    { role: 'user', content: 'Can you summarise what an OpenAI-compatible gateway does for us?' },
  ],
  model: 'openclaw',
})

/** A system prompt and a six-turn history, then the question (~2 KB). */
export const HISTORY = JSON.stringify({
  messages: [
    { role: 'system', content: SYSTEM },
    ...TURNS.map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content })),
    { role: 'user', content: 'And how do I keep this from happening on the next update?' },
  ],
  model: 'openclaw',
})

const PARAGRAPH =
  'The gateway reads the request, checks the token, picks the agent and its session, and runs ' +
  'one turn; the answer streams back as the agent writes it, and the session stays locked ' +
  'until the turn ends. '

/** A 2 000-character message: the echo answers in 250 events. */
export const LONG = JSON.stringify({
  messages: [{ role: 'user', content: PARAGRAPH.repeat(12).slice(0, 2000) }],
  model: 'openclaw',
})

export const BODIES = { short: SHORT, history: HISTORY, long: LONG } as const
export type BodyName = keyof typeof BODIES

/** The flattened prompt the echo backend answers with, as the gateway builds it. */
export const echoText = (body: { messages: { role: string; content: string }[] }): string => {
  const system = body.messages.filter((m) => m.role === 'system').map((m) => m.content)
  const turns = body.messages.filter((m) => m.role !== 'system')
  const label = (role: string) => (role === 'user' ? 'User' : 'Assistant')
  const current = turns[turns.length - 1]
  const history = turns.slice(0, -1)
  const message = history.length
    ? [
        '[Chat messages since your last reply - for context]',
        history.map((m) => `${label(m.role)}: ${m.content}`).join('\n'),
        '',
        '[Current message - respond to this]',
        `${label(current.role)}: ${current.content}`,
      ].join('\n')
    : current.content
  return system.length ? `[System]\n${system.join('\n\n')}\n\n${message}` : message
}

/** The answer in 8-character pieces through an async iterator: the least a pipeline does. */
export async function* pieces(text: string, size = 8): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size)
}
