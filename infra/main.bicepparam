// Parameters for infra/main.bicep. The API token is never written here: it is read from the
// AIFLOW_API_TOKEN environment variable when the file is compiled (az compiles it locally), so
// export it before `az deployment group create`. See docs/deploy.md.
using 'main.bicep'

param environmentName = 'voicefunctions'

param apiToken = readEnvironmentVariable('AIFLOW_API_TOKEN')

param defaultPersona = {
  systemPrompt: 'Du bist die freundliche Telefonassistenz. Antworte kurz, höflich und auf Deutsch.'
  greeting: 'Hallo, wie kann ich Ihnen helfen?'
  language: 'de-DE'
  voiceToVoice: false
}

// Further personas go here, e.g. { Personas__sales__SystemPrompt: '...' }.
param extraAppSettings = {}

param alwaysReadyHttpInstances = 1
param instanceMemoryMB = 2048
param maximumInstanceCount = 100
