namespace VoiceFunctions.AiFlow.Tests;

/// <summary>One JSON file per documented payload shape, discovered at run time: adding a file adds a test.</summary>
public static class Fixtures
{
    public static string Folder(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", name);

    public static TheoryData<string> Files(string folder)
    {
        var files = Directory.GetFiles(Folder(folder), "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        return new TheoryData<string>(files!);
    }

    public static byte[] Read(string folder, string file) => File.ReadAllBytes(Path.Combine(Folder(folder), file));

    /// <summary>"user_speak.barged-in.json" → "user_speak".</summary>
    public static string TypeFromName(string file) => file.Split('.')[0];
}
