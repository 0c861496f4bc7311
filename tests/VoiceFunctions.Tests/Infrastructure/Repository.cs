namespace VoiceFunctions.Tests.Infrastructure;

public static class Repository
{
    /// <summary>The clone's root: the folder holding VoiceFunctions.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "VoiceFunctions.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("VoiceFunctions.sln not found above " + AppContext.BaseDirectory);
    }
}
