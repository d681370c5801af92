console.log('hippo');
