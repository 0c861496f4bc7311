// Parameters for infra/main.bicep. The API token is never written here: it is read from the
// AIFLOW_API_TOKEN environment variable when the file is compiled (az and azd compile it locally), so
// export it (or `azd env set AIFLOW_API_TOKEN ...`) before deploying. See docs/deploy.md.
// Every parameter docs/deploy.md tells you to override is listed here with its default.
using 'main.bicep'

// azd sets AZURE_ENV_NAME; with plain az the default applies.
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'voicefunctions')

param apiToken = readEnvironmentVariable('AIFLOW_API_TOKEN')

param defaultPersona = {
  systemPrompt: 'Du bist die freundliche Telefonassistenz. Antworte kurz, höflich und auf Deutsch.'
  greeting: 'Hallo, wie kann ich Ihnen helfen?'
  language: 'de-DE'
  voiceToVoice: false
  // Call notes (issue 21, docs/notes-webhook.md), e.g.:
  // notesReasons: ['appointment', 'prescription', 'invoice']
  // notesWebhookUrl: 'https://prod-00.westeurope.logic.azure.com/workflows/...'
}

// The notes webhook's signing secret ("whsec_" + base64 of 32 random bytes), read from the environment like the API
// token and stored only in Key Vault: export VOICEFUNCTIONS_NOTES_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)".
param notesWebhookSecret = readEnvironmentVariable('VOICEFUNCTIONS_NOTES_WEBHOOK_SECRET', '')
// Call notes on (Notes__Enabled), and how long a call may be silent without session_end before its notes are written.
param notesEnabled = true
param notesIdleAfter = '00:30:00'
// 0 = the CallNotes queue trigger scales from zero (notes may wait for a cold start; nobody is on the line).
param alwaysReadyNotesInstances = 0

// Further personas go here, e.g. { Personas__sales__SystemPrompt: '...' }.
param extraAppSettings = {}

// The retention purge timer, NCRONTAB with seconds (daily at 03:00 UTC).
param retentionSchedule = '0 0 3 * * *'

// Empty = func-voice-<token>. Any name is turned into a valid deployment container name.
param functionAppName = ''

// 1 keeps the first call off a cold start; 0 = scale to zero (cheaper, cold starts can exceed sipgate's 1 s).
param alwaysReadyHttpInstances = 1
// 2048 or 4096.
param instanceMemoryMB = 2048
param maximumInstanceCount = 100

// Private networking (VNet integration, private endpoints for storage and Key Vault, public access off).
param vnetEnabled = false
// Zone-redundant plan + ZRS storage, only in regions where Flex offers it; decide before the first deployment.
param zoneRedundant = false
// true recommended for production; cannot be turned off again.
param enablePurgeProtection = false

// Alerts (docs/observability.md#alerts): e-mail receiver (empty = no action group, alerts silent), thresholds,
// and the optional no-calls-in-business-hours alert.
param alertEmail = readEnvironmentVariable('VOICEFUNCTIONS_ALERT_EMAIL', '')
param storageFailureThreshold = 5
param answerP95ThresholdMs = 800
param noCallsAlertEnabled = false

// Object id of a user/group/service principal to grant the storage data roles (local runs against the cloud
// account), e.g. $(az ad signed-in-user show --query id -o tsv); empty = none.
param developerPrincipalId = readEnvironmentVariable('VOICEFUNCTIONS_DEVELOPER_PRINCIPAL_ID', '')

// The pipeline's chat model (personas with voiceToVoice: false answer through it; docs/deploy.md). Empty endpoint =
// create an Azure OpenAI account (Entra ID only) with this model deployment; otherwise the existing resource's
// endpoint and deployment name are used and no account is created.
// false = no chat model (voice-to-voice personas only): nothing is created and no ChatModel__ setting is written.
param chatModelEnabled = bool(readEnvironmentVariable('VOICEFUNCTIONS_CHAT_MODEL', 'true'))
param openAiEndpoint = readEnvironmentVariable('VOICEFUNCTIONS_OPENAI_ENDPOINT', '')
param openAiDeploymentName = 'chat'
// A GA model open to new customers (2026-12): gpt-5.4 2026-03-05, a reasoning model, retiring 2027-09-02. Check before
// deploying (docs/infra.md, "Choosing the model"): az cognitiveservices model list -l <region>.
param openAiModelName = 'gpt-5.4'
param openAiModelVersion = '2026-03-05'
// Empty = Reasoning for the created deployment, Auto (learned on the first turn) for an existing endpoint.
param chatModelFamily = ''
param openAiDeploymentSku = 'GlobalStandard'
param openAiCapacity = 30
// Empty = the resource group's region.
param openAiLocation = ''
