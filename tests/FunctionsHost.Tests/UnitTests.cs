namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>The parts that need no worker: route matching and the worker's environment.</summary>
public sealed class UnitTests
{
    [Theory]
    [InlineData("api", "items/{id}", "/api/items/42", true, "id=42")]
    [InlineData("api", "items/{id}", "/API/Items/42/", true, "id=42")]
    [InlineData("api", "items/{id}", "/api/items", false, "")]
    [InlineData("api", "items/{id}", "/api/items/1/2", false, "")]
    [InlineData("api", "items/{id:int}", "/api/items/abc", true, "id=abc")]
    [InlineData("api", "items/{id?}", "/api/items", true, "")]
    [InlineData("api", "items/{id=1}", "/api/items/7", true, "id=7")]
    [InlineData("api", "files/{*rest}", "/api/files/a/b/c", true, "rest=a/b/c")]
    [InlineData("api", "files/{name}.{ext}", "/api/files/report.pdf", true, "name=report,ext=pdf")]
    [InlineData("", "echo", "/echo", true, "")]
    [InlineData("", "echo", "/api/echo", false, "")]
    [InlineData("api", "", "/api", true, "")]
    [InlineData("v1/x", "events", "/v1/x/events", true, "")]
    public void Routes_match_like_the_host(string prefix, string route, string path, bool matches, string expected)
    {
        var template = new RouteTemplate(prefix, route);
        Assert.Equal(matches, template.TryMatch(path, out var values));
        Assert.Equal(expected, string.Join(',', values.Select(v => $"{v.Key}={v.Value}")));
    }

    [Fact]
    public void Literal_segments_count_so_fixed_routes_win()
    {
        Assert.True(new RouteTemplate("api", "items/new").LiteralSegments > new RouteTemplate("api", "items/{id}").LiteralSegments);
    }

    [Fact]
    public void The_worker_environment_holds_essentials_settings_and_the_host_variables()
    {
        var environment = new Dictionary<string, string?>
        {
            ["PATH"] = "/usr/bin",
            ["HOME"] = "/home/me",
            ["DOTNET_ROOT"] = "/usr/share/dotnet",
            ["SECRET_FROM_MY_SHELL"] = "x",
            ["Gone"] = "y",
        };
        var options = new FunctionsHostOptions
        {
            AppFolder = "/app",
            Settings = new Dictionary<string, string?> { ["Section:Key"] = "v", ["Gone"] = null, ["AZURE_FUNCTIONS_ENVIRONMENT"] = "Test" },
        };

        WorkerEnvironment.Apply(environment, options, "/app");

        Assert.Equal("/usr/bin", environment["PATH"]);
        Assert.Equal("/usr/share/dotnet", environment["DOTNET_ROOT"]);
        Assert.False(environment.ContainsKey("SECRET_FROM_MY_SHELL"));
        Assert.False(environment.ContainsKey("Gone"));
        Assert.Equal("v", environment["Section__Key"]);
        Assert.Equal("/app", environment["FUNCTIONS_WORKER_DIRECTORY"]);
        Assert.Equal("/app", environment["FUNCTIONS_APPLICATION_DIRECTORY"]);
        Assert.Equal("dotnet-isolated", environment["FUNCTIONS_WORKER_RUNTIME"]);
        Assert.Equal("Test", environment["AZURE_FUNCTIONS_ENVIRONMENT"]);
    }

    [Fact]
    public void With_InheritEnvironment_everything_stays_and_Development_is_the_default()
    {
        var environment = new Dictionary<string, string?> { ["SECRET_FROM_MY_SHELL"] = "x" };
        WorkerEnvironment.Apply(environment, new FunctionsHostOptions { AppFolder = "/app", InheritEnvironment = true }, "/app");
        Assert.Equal("x", environment["SECRET_FROM_MY_SHELL"]);
        Assert.Equal("Development", environment["AZURE_FUNCTIONS_ENVIRONMENT"]);
    }
}
