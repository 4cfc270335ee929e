var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.Run();

/// <summary>Public so that WebApplicationFactory in the tests can start the service.</summary>
public partial class Program;
