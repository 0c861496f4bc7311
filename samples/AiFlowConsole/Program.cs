// Parses each AI Flow event given on the command line (files, or folders of *.json files) and prints the answer
// a tiny demo assistant would give: the actions as JSON, "204" for none, or "400" with the parser's reason.
using VoiceFunctions.AiFlow;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: AiFlowConsole <event.json | folder> ...");
    return 2;
}

var files = args.SelectMany<string, string>(a => Directory.Exists(a) ? Directory.GetFiles(a, "*.json").Order(StringComparer.Ordinal) : [a]).ToList();
foreach (var file in files)
{
    Console.WriteLine($"{Path.GetFileName(file)}: {Answer(File.ReadAllBytes(file))}");
}

return 0;

static string Answer(byte[] body)
{
    AiFlowEvent evt;
    try
    {
        evt = AiFlowEventParser.Parse(body);
    }
    catch (AiFlowParseException ex)
    {
        return $"400 {ex.Message}";
    }

    var id = evt.Session.Id;
    IReadOnlyList<AiFlowAction> actions = evt switch
    {
        SessionStartEvent => [new SpeakAction { SessionId = id, Text = "Hello, how can I help?", UserInputTimeoutSeconds = 8 }],
        UserSpeakEvent said when said.Text.Contains("bye", StringComparison.OrdinalIgnoreCase) => [new HangupAction { SessionId = id }],
        UserSpeakEvent said => [new SpeakAction { SessionId = id, Text = $"You said: {said.Text}" }],
        DtmfReceivedEvent key => [new SpeakAction { SessionId = id, Text = $"You pressed {key.Digit}." }],
        UserInputTimeoutEvent => [new SpeakAction { SessionId = id, Text = "Are you still there?" }],
        SmsFailedEvent => [new SpeakAction { SessionId = id, Text = "Sorry, I could not send the text message." }],
        _ => [], // session_end, unknown event types, notices: nothing to do
    };

    foreach (var action in actions)
    {
        var check = ActionValidator.Check(action);
        if (!check.IsValid)
        {
            return $"not sent ({action.Type}: {string.Join(" ", check.Errors)})";
        }
    }

    return actions.Count == 0 ? "204" : System.Text.Encoding.UTF8.GetString(AiFlowJson.Serialize(actions));
}
