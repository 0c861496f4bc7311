// Log search alerts on the Application Insights component (issue 10) + an optional e-mail action group. The
// queries are loaded from docs/kql (one place). App Insights has local auth disabled, so the rules query with a
// user-assigned managed identity (Reader on the component, granted in rbac.bicep). Without an e-mail receiver no
// action group exists and the rules are silent (they still fire in Azure Monitor > Alerts); skipQueryValidation
// keeps a first deployment from failing while the identity's role is still propagating.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Resource id of the Application Insights component the rules query (scope).')
param applicationInsightsId string

@description('Resource id of the user-assigned identity the rules query with.')
param alertIdentityId string

@description('Name prefix of the rules, e.g. sqr-<token>-.')
param rulePrefix string

@description('Action group name.')
param actionGroupName string

@description('E-mail address notified by every alert; empty = no action group, alerts deploy silent.')
param alertEmail string

@description('Storage failures (failed Table calls + steps not stored) per 15 minutes above which to alert.')
@minValue(0)
param storageFailureThreshold int

@description('p95 answer time (ms) of the webhook above which to alert.')
@minValue(1)
param answerP95ThresholdMs int

@description('Alert when no call started during an hour of business time (docs/kql/alert-no-calls-business-hours.kql).')
param noCallsAlertEnabled bool

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'voicefunc'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var rules = [
  {
    name: 'late-answers'
    description: 'Answers sent from memory after the response budget, or webhook answers over sipgate\'s 1 s deadline. Runbook: docs/observability.md#alerts.'
    severity: 2
    query: loadTextContent('../../docs/kql/alert-late-answers.kql')
    measure: 'late'
    aggregation: 'Total'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
    enabled: true
  }
  {
    name: 'lost-steps'
    description: 'Call steps neither stored nor spooled: holes in call traces. Runbook: docs/observability.md#alerts.'
    severity: 1
    query: loadTextContent('../../docs/kql/alert-lost-steps.kql')
    measure: 'lost'
    aggregation: 'Total'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
    enabled: true
  }
  {
    name: 'storage-failures'
    description: 'Table Storage failures (failed calls + steps not stored) over the threshold. Runbook: docs/observability.md#alerts.'
    severity: 2
    query: loadTextContent('../../docs/kql/alert-storage-failures.kql')
    measure: 'failures'
    aggregation: 'Total'
    threshold: storageFailureThreshold
    frequency: 'PT5M'
    window: 'PT15M'
    enabled: true
  }
  {
    name: 'webhook-5xx'
    description: 'Server errors (5xx) from the webhook. Runbook: docs/observability.md#alerts.'
    severity: 1
    query: loadTextContent('../../docs/kql/alert-webhook-5xx.kql')
    measure: 'errors'
    aggregation: 'Total'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
    enabled: true
  }
  {
    name: 'answer-p95'
    description: 'p95 answer time of the webhook over the threshold (default 800 ms, the response budget). Runbook: docs/observability.md#alerts.'
    severity: 2
    query: loadTextContent('../../docs/kql/alert-answer-p95.kql')
    measure: 'p95'
    aggregation: 'Maximum'
    threshold: answerP95ThresholdMs
    frequency: 'PT5M'
    window: 'PT15M'
    enabled: true
  }
  {
    // Issue 21: notes the queue gave up on (docs/kql/alert-notes-poisoned.kql). Not urgent for the call itself,
    // so evaluated every 15 minutes over the same 15 minutes: one poison message fires once.
    name: 'notes-poisoned'
    description: 'Call notes given up on after the queue\'s maxDequeueCount (moved to call-notes-poison). Runbook: docs/observability.md#alerts.'
    severity: 2
    query: loadTextContent('../../docs/kql/alert-notes-poisoned.kql')
    measure: 'poisoned'
    aggregation: 'Total'
    threshold: 0
    frequency: 'PT15M'
    window: 'PT15M'
    enabled: true
  }
  {
    name: 'no-calls-business-hours'
    description: 'No call started during an hour of business time. Runbook: docs/observability.md#alerts.'
    severity: 3
    query: loadTextContent('../../docs/kql/alert-no-calls-business-hours.kql')
    measure: ''
    aggregation: 'Count'
    threshold: 0
    frequency: 'PT30M'
    window: 'PT1H'
    enabled: noCallsAlertEnabled
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for r in rules: {
    name: '${rulePrefix}${r.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    identity: {
      type: 'UserAssigned'
      userAssignedIdentities: {
        '${alertIdentityId}': {}
      }
    }
    properties: {
      displayName: 'VoiceFunctions: ${r.name}'
      description: r.description
      severity: r.severity
      enabled: r.enabled
      scopes: [
        applicationInsightsId
      ]
      evaluationFrequency: r.frequency
      windowSize: r.window
      skipQueryValidation: true
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: r.query
            timeAggregation: r.aggregation
            metricMeasureColumn: empty(r.measure) ? null : r.measure
            operator: 'GreaterThan'
            threshold: r.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
      }
    }
  }
]

@description('Names of the alert rules.')
output ruleNames array = [for (r, i) in rules: alertRules[i].name]
