Console.Error.WriteLine("sensor: not built yet");
return 2;
