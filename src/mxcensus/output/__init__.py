"""What every output path shares, below report and export alike: files written whole or
not at all and never over a database (``output.files``), CSV cells a spreadsheet will not
execute (``output.csv``). Text shown to people is made inert by :mod:`mxcensus.text`.
Nothing is imported here."""
