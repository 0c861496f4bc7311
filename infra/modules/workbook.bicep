// Operations workbook on the Application Insights component (issue 10). Every query is loaded from docs/kql, the
// one place the documented queries live, so the workbook and docs/observability.md never drift apart.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Application Insights component the workbook reads (sourceId); a name known before deployment, so the workbook\'s guid() name is too.')
param applicationInsightsName string

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var applicationInsightsId = applicationInsights.id

@description('Display name of the workbook.')
param displayName string

// The timeline query carries a placeholder session id for pasting into Logs; the workbook puts its parameter there.
var timelinePlaceholder = 'let sessionId = "00000000-0000-0000-0000-000000000000";'
var timelineQuery = loadTextContent('../../docs/kql/call-timeline.kql')

var sections = [
  {
    name: 'calls-per-hour'
    title: 'Calls per hour (started, ended, escalated), last 7 days'
    query: loadTextContent('../../docs/kql/calls-per-hour.kql')
    visualization: 'timechart'
  }
  {
    name: 'calls-by-persona'
    title: 'Calls per persona and how they ended, last 7 days'
    query: loadTextContent('../../docs/kql/calls-by-persona.kql')
    visualization: 'table'
  }
  {
    name: 'mode-split'
    title: 'Mode split: voice-to-voice, pipeline by access gate, escalated by keyword / DTMF, transfers failed'
    query: loadTextContent('../../docs/kql/mode-split.kql')
    visualization: 'table'
  }
  {
    name: 'answer-latency'
    title: 'Answer latency of the events function per event type against the 1 s deadline, last 24 h'
    query: loadTextContent('../../docs/kql/webhook-latency.kql')
    visualization: 'table'
  }
  {
    name: 'storage-health'
    title: 'Storage health: round trips, failures, steps not stored, spooled / replayed / lost, last 24 h'
    query: loadTextContent('../../docs/kql/storage-health.kql')
    visualization: 'table'
  }
  {
    name: 'failures'
    title: 'Failures and exceptions, last 24 h'
    query: loadTextContent('../../docs/kql/failures.kql')
    visualization: 'table'
  }
  {
    name: 'notes-why-people-called'
    title: 'Why people called: call notes by reason and outcome per day, last 30 days'
    query: loadTextContent('../../docs/kql/notes-why-people-called.kql')
    visualization: 'table'
  }
  {
    name: 'notes-callbacks-open'
    title: 'Callbacks requested, last 7 days (an upper bound of those still open: nothing marks one done; the calls are in the session store)'
    query: loadTextContent('../../docs/kql/notes-callbacks-open.kql')
    visualization: 'table'
  }
]

var queryItems = [
  for s in sections: {
    type: 3
    name: s.name
    content: {
      version: 'KqlItem/1.0'
      title: s.title
      query: s.query
      size: 0
      queryType: 0
      resourceType: 'microsoft.insights/components'
      visualization: s.visualization
    }
  }
]

var workbook = {
  version: 'Notebook/1.0'
  items: concat(
    [
      {
        type: 1
        name: 'header'
        content: {
          json: '## VoiceFunctions operations\nCalls, modes, answer latency against sipgate\'s 1 s deadline, storage health, failures, and what the call notes say. Queries: docs/kql in the repository.'
        }
      }
    ],
    queryItems,
    [
      {
        type: 9
        name: 'session-parameter'
        content: {
          version: 'KqlParameterItem/1.0'
          style: 'pills'
          queryType: 0
          resourceType: 'microsoft.insights/components'
          parameters: [
            {
              id: guid(applicationInsightsId, 'SessionId')
              version: 'KqlParameterItem/1.0'
              name: 'SessionId'
              label: 'Session id (AI Flow session.id)'
              type: 1
              isRequired: false
              value: ''
            }
          ]
        }
      }
      {
        type: 3
        name: 'call-timeline'
        conditionalVisibility: {
          parameterName: 'SessionId'
          comparison: 'isNotEqualTo'
          value: ''
        }
        content: {
          version: 'KqlItem/1.0'
          title: 'One call\'s timeline: every event, mode change, escalation and transfer in order'
          query: replace(timelineQuery, timelinePlaceholder, 'let sessionId = tolower("{SessionId}");')
          size: 0
          queryType: 0
          resourceType: 'microsoft.insights/components'
          visualization: 'table'
        }
      }
    ]
  )
  fallbackResourceIds: [
    applicationInsightsId
  ]
}

resource operationsWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // Workbook names must be GUIDs; deterministic so redeploying updates the same workbook.
  name: guid(applicationInsightsId, 'voicefunctions-operations-workbook')
  location: location
  tags: union(tags, { 'hidden-title': displayName })
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: string(workbook)
  }
}

output workbookId string = operationsWorkbook.id
