[assembly: AssemblyFixture(typeof(VoiceFunctions.Tests.Infrastructure.Azurite))]
